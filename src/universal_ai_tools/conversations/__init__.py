"""Conversations, their messages, the prompt inspector and feedback."""
