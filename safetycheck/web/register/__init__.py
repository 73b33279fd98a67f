"""The register pages: the filterable table, its CSV export and the summary's charts."""
