// Placeholder: filled in by the daemon work of issue 9.
