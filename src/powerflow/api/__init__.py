"""HTTP edge: routes translate HTTP to service calls and back; no SQL, no SpiffWorkflow."""
