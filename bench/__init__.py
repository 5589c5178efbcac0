"""The benchmark of issue 8: `python bench/run.py --accounts 1000000`.

kam end to end against four evaluations of the same default rules on the same accounts:
an independent plain-Python one (bench/plain.py), CLIPS through clipspy
(bench/clips_engine.py), GoRules ZEN's decision-graph engine (bench/zen_engine.py) and a
vectorised polars one (bench/vectorised.py). Every evaluator
follows the loaded Project (the YAML), never a hand copy of the rules.
"""
