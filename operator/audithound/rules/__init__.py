"""Rules: a DetectionRule spec becomes a compiled rule or a list of problems with positions."""
