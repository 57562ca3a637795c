{#- kpi_sales_cycle's statistics by quarter and rep (macros/sales_cycle.sql) -#}
{{ sales_cycle_stats('quarter', 'rep') }}
