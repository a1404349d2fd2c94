"""`numbers=digits`: spoken Russian numbers rewritten as digits after recognition, for any engine."""
