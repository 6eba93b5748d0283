"""Mail: what each domain event owes (the outbox), reminders and follow-ups planned from
attendance, what each mail says, and delivery over SMTP."""
