{#- kpi_sales_cycle's statistics by quarter and company (macros/sales_cycle.sql) -#}
{{ sales_cycle_stats('quarter', 'company') }}
