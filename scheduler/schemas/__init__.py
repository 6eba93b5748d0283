"""marshmallow schemas: <Thing>Schema dumps, <Thing>ArgsSchema loads."""
