"""What a person does about their own account that reaches past accounts: the links that are
mailed to them (accounts issues them, mail delivers them), their data exported, their account
erased (attendance frees the seats)."""
