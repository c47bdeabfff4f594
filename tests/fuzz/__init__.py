"""Bounded fuzzers (issue 11): SMTP sessions against a live relay, and MIME for the parser.

Each test is bounded twice: in examples (hypothesis' max_examples) and in wall-clock seconds
(tests.fuzz.bounds.WallClock), so `make test` stays quick; `make fuzz` raises both through
INLET_FUZZ_EXAMPLES and INLET_FUZZ_SECONDS (see tests.fuzz.bounds).
"""
