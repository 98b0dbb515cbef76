"""Lab-12: AI safety and red-teaming: a layered guard, a red-team runner, an audit log (`make lab-12`)."""
