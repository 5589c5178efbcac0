"""Stage 2, the rules: a loaded project compiled to a durable-rules ruleset and evaluated on
one account at a time.

compile.py turns the model into the ruleset; durable.py is the one adapter of the
durable_rules_engine extension (Engine.fire runs the rules on one account); evaluate.py
(Evaluator) derives metrics (metrics.py), pre-filters accounts no rule can fire on
(prefilter.py), fires the rules and builds the result, with each signal's evidence sentence
(evidence.py) and its playbooks' steps (planning.py). interpreter.py evaluates the same rules
in plain Python, the reference the engine's answers are checked against.
"""
