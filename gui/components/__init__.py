"""The parts pages are built from, one job each (pending cards, running output, the history
table, a linked card, the bus card...). A part draws itself where it is made and takes what
it needs as parameters (the data root, the bus endpoint, what to show): no page context, no
``ui.page`` (only ``gui.pages`` registers pages, behind the login check). A part that reads
or changes something checks the session in its handler (``session.require``)."""
