"""What the pages show, kept current by folding the feed's messages into it: seeded once
from the read model when a page opens, then changed by each message itself (never by
reading again the files its publisher writes just after it). Pure: no NiceGUI, no socket;
tested with plain messages."""
