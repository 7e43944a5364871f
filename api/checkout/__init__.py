"""The checkout's hot path: POST /v1/eligibility, from bytes in to bytes out.

`request.py` reads and checks the request by hand (cheaper than pydantic on this route);
`decide.py` finds the member, quotes, reads live stock where the quote touches it, and
writes the answer.
"""
