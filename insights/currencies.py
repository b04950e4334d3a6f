"""The ISO 4217 codes a sales figure may be in.

The currencies and funds of ISO 4217's list of current codes, less the codes that name no
money a shop is paid in: precious metals (XAU, XAG, XPD, XPT), bond market units (XBA to
XBD), the SDR and its kin (XDR, XSU, XUA), testing (XTS) and "no currency" (XXX). Codes
recently withdrawn whose replacement is young (SLL, ZWL, ANG) are still taken.
"""

from __future__ import annotations

CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
    EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD
    IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
    MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
    PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP
    STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED
    VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """.split()
)


def is_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 code of money."""
    return code in CURRENCIES
