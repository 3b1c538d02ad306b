"""The pure core of Loa: messages, content, matching, conversation. No I/O frameworks here."""
