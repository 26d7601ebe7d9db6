"""budgetkg library: parse → model → rdf → store → validate/query/analyse."""
