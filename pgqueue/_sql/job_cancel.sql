-- Cancels a job (see pgqueue.cancel in migration 0002): 'cancelled' for a job that had not
-- started, 'cancelling' for a running one (its worker is told), 'not_found', or the final state.
SELECT pgqueue.cancel($1) AS outcome
