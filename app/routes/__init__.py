"""HTTP routes, one module per resource; each route authenticates, parses, calls one domain function."""
