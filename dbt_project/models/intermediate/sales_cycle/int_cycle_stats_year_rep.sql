{#- kpi_sales_cycle's statistics by year and rep (macros/sales_cycle.sql) -#}
{{ sales_cycle_stats('year', 'rep') }}
