"""``audithound tune``: which few tuples raise most of a rule's alerts, and the exception item
that would silence each, with what it would also hide.

Data flow: ``collect`` runs the rules over audit logs through the one pipeline (as ``scan``)
and keeps, for each alert, the fields of the event that completed it, read through the
engine's document view (``dimensions``). ``clusters`` groups a rule's alerts into tuples
(who asked, what was asked) and sets aside the values no exception should name: those every
alert shares and those the query itself requires (``query``). ``advice`` turns each tuple
into an exception item (``items``), or says why it proposes none, using what is known to be
benign by default (``known``); ``report`` prints it for people or as JSON.
"""
