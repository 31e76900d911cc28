"""Pluralistic analysis of a round's reactions: opinion groups (Polis), group-aware consensus,
representativeness, choice models (Bradley-Terry / Plackett-Luce), Community Notes style bridging,
charts and results posts. Pure numerics live in matrix / polis / choice / bridging; the database
and chat glue lives in results."""
