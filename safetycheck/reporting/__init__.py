"""Reading across domains: the incident register and the summary figures."""
