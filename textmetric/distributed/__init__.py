"""Past one machine, on Ray: the Ray Data build of a collection (``build``), the connection to a cluster
(``cluster``). Ray is imported only when one of them runs, never by ``import textmetric``."""
