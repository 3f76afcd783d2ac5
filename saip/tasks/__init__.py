"""Downstream evaluation: `saip eval TASK` (registry in `saip.tasks.cli.TASKS`, shared loop in
`saip.tasks.engine`, config schema in `saip.tasks.config`)."""
