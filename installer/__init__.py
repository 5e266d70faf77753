"""Install, uninstall and doctor for on-prem admins; imported by nothing else."""
