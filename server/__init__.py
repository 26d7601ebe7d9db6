"""HTTP adapter over kg/ (SPARQL endpoint, linked data)."""
