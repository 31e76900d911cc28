"""What Slack offers of the core's commands, and how it spells them, for the help /policybot shows.

Every slash command here is registered with Bolt (adapter.COMMANDS) and in slack-manifest.yml;
/scenario import reads a file from a path, which a Slack member cannot give, so it is left out."""

from __future__ import annotations

from bot.domain.commands import PlatformCommands

MODERATORS_USAGE = (
    "/policybot moderators <@usergroup|S…|off>   (workspace admins and owners: members of this user group are\n"
    "            policybot moderators too; off: admins and owners only; no argument: show the setting)"
)

SLACK_COMMANDS = PlatformCommands(
    spelling={
        "help": "/policybot",
        "policy": "/policy",
        "scenario": "/scenario",
        "scenario import": "",  # a path on the bot's machine: not something a Slack member has
        "round": "/round",
        "stress": "/stress",
        "react": "/react",
        "unreact": "/unreact",
        "amend": "/amend",
        "vote": "/vote",
        "reminders": "/reminders",
        "export": "/export",
        "privacy": "/privacy",
        "try": "/try",
        "precedent": "/precedent",
    },
    own={"moderators": MODERATORS_USAGE},
    note=(
        "\n\nOn Slack, react to candidates with 👍 👎 🤷 (or /react, to give a reason too), press ⭐ for the best of "
        "a scenario, and vote with the buttons under each amendment; /round open and /amend alone open a form. "
        "Moderators: workspace admins and owners, and members of the user group set with /policybot moderators."
    ),
)
