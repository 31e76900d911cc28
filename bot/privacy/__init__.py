"""Members' data wherever the bot keeps it: which column can hold a member's id or words
(registry), how a member is credited in posts (naming), and how erasure reaches all of it (erasure)."""
