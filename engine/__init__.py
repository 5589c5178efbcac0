"""kam: key-account risk rules compiled to a forward-chaining engine.

Data flows one way, and the folders are its stages: project/ (load, validate, model) ->
rules/ (compile, evaluate one account) -> run/ (read and evaluate a portfolio) -> plans/
(plans across runs, the store) -> render/ (documents); tools/ on top. What several stages
share stays here: errors, hints, i18n, result, io/ (docs/architecture.md).
"""

__version__ = "0.1.0"
