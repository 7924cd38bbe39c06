"""Allocator policies: the one interface every policy provides, and the registry Pool picks from.

A policy decides where objects go; the engine (:mod:`zbudjit.engine`) provides what every policy
shares. Each policy is a folder here (its tables and kernels, its compaction, its audit, and its
plain-Python specification ``spec.py`` beside them) whose ``__init__.py`` defines a
:class:`Policy` subclass; adding a policy is a new folder and one line in :data:`REGISTRY`.

What a pool holds
-----------------
:class:`zbudjit.Pool` owns the shared tables as attributes, and saves every array attribute it has
(:mod:`zbudjit.persist`), so a policy keeps its own tables as pool attributes too:

==================  ======================================================================
``_geometry``       int64 numbers of the pool's geometry; the ``engine.tables.G_*`` entries
                    G_PAGES, G_PAGE_SHIFT and G_MAX_SIZE mean the same in every policy
``_pages``          the page table: one record per pfn, all zero for a free page; it must have
                    a ``stamp`` field (the released-page stack links through it)
``_stack_heads``    one entry per stamped stack (``engine.tables``), as many as the policy has
                    free lists (none for a policy with ``stacks = False``); every other shared
                    table (handles, free slots, stack blocks, LRU log, counters, arena) is made
                    by the Pool, before :meth:`Policy.build`
==================  ======================================================================

What a policy provides
----------------------
``name``, ``options`` (keyword arguments of Pool that belong to this policy, with defaults;
each becomes a pool attribute of that name and part of a save's configuration) and
``page_tables`` (the attributes holding one record a pfn, saved up to the page watermark) and
``stacks`` (whether the policy files pages in the shared stamped stacks and LRU log: without
them Pool keeps those tables empty); then
the methods below, each called with the pool. Batch methods return a kernel's ``(status, index)``
(see :mod:`zbudjit.errors`); Pool raises. A failing batch must leave every table as it was: Pool
puts back what :meth:`zbudjit.Pool._reserve` grew, the policy's kernel undoes the rest.

Adding a policy (z3fold, say): a folder ``policies/z3fold/`` with its kernels, audit and
``spec.py``, an ``__init__.py`` defining ``Z3foldPolicy(Policy)``, and its name in
:func:`_registry`. Nothing in ``zbud/``, ``zsmalloc/``, the engine or Pool changes; its page
table needs a ``stamp`` field, and a ``free_list`` field where it files pages in stamped stacks.
"""

import abc

import numpy as np


class Policy(abc.ABC):
    """The interface between :class:`zbudjit.Pool` and one allocator policy."""

    name = ""
    options = {}             # Pool keyword -> default
    page_tables = ("_pages",)   # pool attributes with one record a pfn (saved up to the watermark)
    stacks = True            # files pages in the shared stamped stacks and LRU log

    @abc.abstractmethod
    def check_options(self, page_size, options):
        """The options as the policy keeps them (validated); raise TypeError or ValueError."""

    @abc.abstractmethod
    def build(self, pool, pages):
        """Give a new pool its ``_geometry``, ``_pages``, ``_stack_heads`` (if ``stacks``) and
        policy tables."""

    @abc.abstractmethod
    def alloc(self, pool, sizes, data, offsets, out):
        """Place ``sizes`` in order (writing each object's bytes when ``offsets`` is not empty),
        handles into ``out``; returns ``(status, index)``. The kernel answers NEED_ROOM, having
        changed nothing, when the growable tables are too small (``engine.tables.has_room``):
        Pool then makes the room :meth:`room` names and calls again. This keeps a small batch to
        one Python call and one kernel call."""

    @abc.abstractmethod
    def free(self, pool, handles):
        """Free ``handles`` in order; returns ``(status, index)``, NEED_ROOM as for alloc."""

    @abc.abstractmethod
    def kernel_state(self, pool):
        """The tuple of the pool's tables that :mod:`zbudjit.policies.single` hands to this
        policy's batch kernels (valid until the pool next makes room)."""

    @abc.abstractmethod
    def room(self, operation, n):
        """``(handle slots, stack pushes, LRU entries)`` that an ``"alloc"`` or ``"free"`` of ``n``
        objects may take at most."""

    @abc.abstractmethod
    def new_pages_bound(self, pool, sizes):
        """At most how many pages an alloc of ``sizes`` (not yet checked) may take beyond those
        in use: a file-backed arena gets their disk blocks before the kernel runs."""

    @abc.abstractmethod
    def compact(self, pool, max_bytes):
        """Compact as the policy does; returns ``(pages_freed, objects_moved, bytes_moved, moved)``.
        ``max_bytes`` is -1 for no budget."""

    @abc.abstractmethod
    def check(self, pool):
        """Audit the tables; returns a message saying what is wrong, or None when sound."""

    @abc.abstractmethod
    def stats(self, pool):
        """Policy figures for :class:`zbudjit.Stats`: a dict with ``bytes_allocated`` (bytes of
        the slots or chunks the live objects take), ``free_chunks_histogram`` (a tuple) and
        ``page_table_bytes`` (bytes of its tables of one record a page) and ``table_bytes``
        (bytes of its other tables)."""

    @abc.abstractmethod
    def next_pages(self, pool):
        """The uint32 table the data path follows from a page to the next page of a straddling
        object (empty for a policy whose objects never cross a page boundary)."""

    @abc.abstractmethod
    def reclaim(self, pool, n_pages, writeback):
        """:meth:`zbudjit.Pool.reclaim` (a policy without an LRU raises PoolError saying so)."""

    @abc.abstractmethod
    def lru_order(self, pool):
        """:meth:`zbudjit.Pool.lru_order` (a policy without an LRU raises PoolError saying so)."""


NO_NEXT_PAGES = np.empty(0, np.uint32)


def _registry():
    from .zbud import ZbudPolicy
    from .zsmalloc import ZsmallocPolicy
    return {policy.name: policy for policy in (ZbudPolicy(), ZsmallocPolicy())}


#: Policy name -> the Policy that places objects under that name.
REGISTRY = _registry()
