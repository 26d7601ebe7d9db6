"""SHACL Core constraint components (SHACL 4) and SPARQL-based constraints (SHACL 5), compiled to SPARQL.

One module per section of the specification, as pySHACL keeps them: value type (4.1), cardinality
(4.2), value range (4.3), string-based (4.4), property pair (4.5), logical (4.6), shape-based (4.7),
other (4.8) and SPARQL-based constraints (5). Each compiles the parameters of its components on one
shape into :class:`~kg.shapes.constraints.scope.Branch` es of a :class:`~kg.shapes.constraints.scope.Scope`.
"""
