"""What the marketplace announces to the apps above it (which it may not import), inside the
transaction of the action, so that a receiver that raises an ApplicationError refuses the action
whole (nothing of it is kept).

- `delivery_submitted(delivery, adapter, training)`: a delivery was recorded; `adapter` holds the
  model-adapter uploads that came with it, by field (`adapter_config`, `adapter_model`), `training` a
  training set and hyperparameters (`dataset`, `hyperparameters`); acceptance tests check them and
  run on them.
- `milestone_approving(milestone, actor, note, approve_anyway)`: a milestone is about to be approved
  (by the client, staff, or the auto-approval timer with actor None); a receiver may refuse it, e.g.
  while the delivery's acceptance test has not passed and `approve_anyway` was not given with a note.
- `milestone_changing(milestone, action, actor)`: an accepted change order is about to edit or remove
  (`action` "edit" / "remove") a milestone not funded yet; a receiver may refuse it, e.g. while a card
  payment for it is under way.
"""

from django.dispatch import Signal

delivery_submitted = Signal()
milestone_approving = Signal()
milestone_changing = Signal()
