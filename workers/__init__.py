"""RQ jobs. Each job takes ids, calls the same services as the views, and is safe to run twice."""
