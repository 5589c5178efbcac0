"""kam: key-account risk rules compiled to a forward-chaining engine.

Data flows one way: load -> validate -> model -> compile -> evaluate -> render.
"""

__version__ = "0.1.0"
