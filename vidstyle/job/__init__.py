"""The job directory of a render: its store, its typed spec, its status."""
