"""human approvals and waits for events (issue 6): approval requests and decisions, event waits

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('approval_request',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('task_id', sa.String(length=250), nullable=False),
    sa.Column('map_index', sa.Integer(), nullable=False),
    sa.Column('try_number', sa.Integer(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False, comment="the task's ApprovalSpec: rules, timeout, escalation"),
    sa.Column('approvers', sa.JSON(), nullable=False, comment='who decides now: usernames and role:<role> (escalation may reassign)'),
    sa.Column('requested_by', sa.String(length=250), nullable=True, comment='the user who started the run, who may not approve it'),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('outcome_reason', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('escalations_applied', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_request')),
    sa.UniqueConstraint('dag_id', 'run_id', 'task_id', 'map_index', 'try_number', name=op.f('uq_approval_request_dag_id'))
    )
    op.create_index('ix_approval_request_state', 'approval_request', ['state'], unique=False)
    op.create_table('approval_decision',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('request_id', _ID, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('username', sa.String(length=150), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('delegate_to', sa.String(length=150), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_decision')),
    sa.UniqueConstraint('request_id', 'username', name=op.f('uq_approval_decision_request_id'))
    )
    op.create_table('event_wait',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('task_id', sa.String(length=250), nullable=False),
    sa.Column('map_index', sa.Integer(), nullable=False),
    sa.Column('try_number', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=250), nullable=False, comment='the event type, or a glob over it'),
    sa.Column('is_glob', sa.Boolean(), nullable=False),
    sa.Column('match', sa.Text(), nullable=True, comment='JMESPath over {type, payload, id, params}'),
    sa.Column('params', sa.JSON(), nullable=False, comment="the run's params, which `match` may compare the event with"),
    sa.Column('corr_key', sa.String(length=40), nullable=True, comment="orchestrator.event_waits.wait_key: finds the wait by the event's fields"),
    sa.Column('after_event_id', _ID, nullable=False, comment='only later events match'),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('timeout_at', sa.DateTime(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('event_pk', _ID, nullable=True, comment='the external_event that matched'),
    sa.Column('matched_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_wait')),
    sa.UniqueConstraint('dag_id', 'run_id', 'task_id', 'map_index', 'try_number', name=op.f('uq_event_wait_dag_id'))
    )
    op.create_index('ix_event_wait_lookup', 'event_wait', ['state', 'is_glob', 'type', 'corr_key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_event_wait_lookup', table_name='event_wait')
    op.drop_table('event_wait')
    op.drop_table('approval_decision')
    op.drop_index('ix_approval_request_state', table_name='approval_request')
    op.drop_table('approval_request')
