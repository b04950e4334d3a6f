import pytest
from django.core.exceptions import ImproperlyConfigured

from backoffice.env import env_bool, env_choice, env_float, env_int, env_list


def test_env_int_reads_a_whole_number_and_falls_back_to_the_default():
    assert env_int("N", 5, environ={"N": " 12 "}) == 12
    assert env_int("N", 5, environ={}) == 5
    assert env_int("N", 5, environ={"N": ""}) == 5


@pytest.mark.parametrize("raw", ["twelve", "1.5", "0x10"])
def test_env_int_fails_loudly_on_a_value_it_cannot_read(raw):
    with pytest.raises(ImproperlyConfigured, match="N must be a whole number"):
        env_int("N", 5, environ={"N": raw})


def test_env_int_enforces_its_bounds():
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("N", 5, minimum=1, environ={"N": "0"})
    with pytest.raises(ImproperlyConfigured, match="at most 9"):
        env_int("N", 5, maximum=9, environ={"N": "10"})


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("off", False), ("FALSE", False)])
def test_env_bool_reads_the_usual_spellings(raw, expected):
    assert env_bool("B", not expected, environ={"B": raw}) is expected


def test_env_bool_fails_loudly_on_anything_else():
    with pytest.raises(ImproperlyConfigured, match="B must be one of"):
        env_bool("B", True, environ={"B": "maybe"})


def test_env_float_and_env_list():
    assert env_float("F", 1.0, environ={"F": "2.5"}) == 2.5
    with pytest.raises(ImproperlyConfigured, match="F must be a number"):
        env_float("F", 1.0, environ={"F": "soon"})
    assert env_list("L", ["a"], environ={"L": "x, y,,z"}) == ["x", "y", "z"]
    assert env_list("L", ["a"], environ={}) == ["a"]


def test_env_choice_reads_one_of_its_choices_and_fails_loudly_on_another():
    choices = ("embedded", "production")
    assert env_choice("E", "embedded", choices, environ={"E": " Production "}) == "production"
    assert env_choice("E", "embedded", choices, environ={"E": ""}) == "embedded"
    assert env_choice("E", "embedded", choices, environ={}) == "embedded"
    with pytest.raises(ImproperlyConfigured, match="E must be one of embedded, production; got 'prod'"):
        env_choice("E", "embedded", choices, environ={"E": "prod"})
