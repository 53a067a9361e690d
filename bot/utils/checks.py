"""Who is a moderator, and the one refusal everyone else gets.

Rights are checked here, not left to ``default_member_permissions`` (which
server admins can override): Manage Server, or a moderator role the bot's host
configured. Every moderator command (``/article``, ``/stats``, ``/annotate``)
asks ``moderator_only``, so the refusal is worded, shown and logged the same
way everywhere.
"""

from __future__ import annotations

import discord

from index.logs import Recorder

REFUSAL = ("Only moderators can do this: members with Manage Server or a moderator role "
           "set by the bot's host.")


def is_moderator(interaction: discord.Interaction, roles: list[str]) -> bool:
    """Manage Server in this channel, or one of the configured roles (by id or name)."""
    if interaction.permissions.manage_guild:
        return True
    member = interaction.user
    if not isinstance(member, discord.Member) or not roles:
        return False
    wanted = {r.strip().lower() for r in roles}
    return any(str(r.id) in wanted or r.name.lower() in wanted for r in member.roles)


async def moderator_only(interaction: discord.Interaction, roles: list[str], logs: Recorder,
                         action: str, target: str) -> bool:
    """True for a moderator. Anyone else is refused privately, and the refusal is logged
    (``action`` on ``target``), so moderators can see who tried what."""
    if is_moderator(interaction, roles):
        return True
    logs.moderation(action, "refused", user=str(interaction.user.id),
                    guild=str(interaction.guild_id or ""), target=target,
                    detail="not a moderator")
    await interaction.response.send_message(REFUSAL, ephemeral=True)
    return False
