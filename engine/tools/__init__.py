"""Tools on top of the stages: rule tests (rule_tests.py, `kam test`), the impact preview of a
rule change (diff.py), backtests over past inputs (backtest.py), a new project (init.py,
`kam init`), why an account got its result (explain.py) and from a stored run (audit.py), and
what kam reads in an input file (inspect.py)."""
