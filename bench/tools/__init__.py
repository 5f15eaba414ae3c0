"""One runner per tool measured. Each runs its steps as separate processes."""
