"""The operator: thin kopf handlers around the same pipeline that ``audithound scan`` uses."""
