"""Long operations an operator starts from the admin (a bulk action on everything a list
matches, an export, a re-pull): run by a worker, followed on one progress page with rate
and time left, and cancellable between two chunks."""
