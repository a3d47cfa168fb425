"""The service layer: state that outlives a process (Redis store, artifact store) and the domain calls the API,
workers and CLI make on it. The pure core (`rewriter.records`, `formats`, `verifiers`, `pipeline`, …) never imports
this package; import-linter keeps it so."""
