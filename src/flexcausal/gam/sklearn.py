"""placeholder"""
class KRLSRegressor:  # filled in below
    pass
