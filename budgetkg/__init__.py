"""The budgetkg command line."""
