"""Sub-commands of ``budgetkg`` that live in their own modules; each exposes ``register(app)``."""
