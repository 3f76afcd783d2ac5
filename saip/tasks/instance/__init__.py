"""Instance-level evaluation parts (detector adaptor, box readers and metrics), shared by
`saip eval detection` and the later multi-person tasks that plug into the same detector."""
