defs = {"jobs": ["not", "a", "Definitions"]}
